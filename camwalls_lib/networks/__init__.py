"""The networks: the paper's walled [CNN] and masked [VGG], a walled EfficientNet and a walled ViT.

- :mod:`.models` -- :class:`~.models.WalledNet`, :class:`~.models.ToyCNN`, :class:`~.models.GAPNet`,
  :class:`~.models.MaskedVGG`, :func:`~.models.masked_vgg16`;
- :mod:`.vgg` -- the masked [VGG] in the authors' checkpoint layout;
- :mod:`.efficientnet` -- a pretrained EfficientNet-Lite0 with a wall in its head;
- :mod:`.vit` -- a vision transformer whose wall is a mask on attention.
"""
