"""Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017): MNIST's IDX format, clothing classes."""
from .base import DatasetInfo
from .mnist import IdxImageDataset

SPEC = IdxImageDataset(
    DatasetInfo("fashion_mnist", 10, (1, 28, 28), (0.2860,), (0.3530,), in_memory=True,
                citation="Xiao, Rasul, Vollgraf (2017)"),
    folder="FashionMNIST",
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    md5s={"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
          "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
          "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
          "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"},
)
