// placeholder until the Models layer lands
