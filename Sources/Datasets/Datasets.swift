// placeholder until the Datasets layer lands
