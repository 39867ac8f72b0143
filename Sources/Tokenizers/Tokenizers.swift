// placeholder until the Tokenizers layer lands
