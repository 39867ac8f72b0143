// placeholder until the Retrieval layer lands
