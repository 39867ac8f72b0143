// placeholder until the Evaluation layer lands
