"""The paper's experiments, one module each: they compose data, networks, training, cams and
metrics, and nothing below imports them. Each runs with ``python -m`` and under ``torchrun``.

- :mod:`.mnist_walls` -- the walled [CNN]s trained on MNIST once and cached (chapters 6-8, 13);
- :mod:`.fashion_vgg` -- the masked [VGG] and its unwalled twin trained on Fashion-MNIST;
- :mod:`.fashion_table1` -- Table 1 on that network (same-class STACK-MIX);
- :mod:`.imagenet_vgg` -- the masked [VGG] on an ImageNet-layout folder (the paper's recipe);
- :mod:`.vit_walls` -- the walled vision transformer of chapter 14, trained on MNIST;
- :mod:`.efficientnet_depth` -- the deeper walls of the pretrained EfficientNet (chapter 12);
- :mod:`.authors_table1` -- Table 1 on the authors' own network and images, where they are
  present (a function, no command line: the assets need a download first).
"""
