"""Data sets: toy 2D classification sets, MNIST (offline), trajectory sampling."""

__all__: list[str] = []
