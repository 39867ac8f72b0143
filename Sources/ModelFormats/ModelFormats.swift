// placeholder until the ModelFormats layer lands
