"""xch: a harness for xinchuang (信创) hardware-adaptation and compatibility testing."""

__version__ = "0.1.0"
