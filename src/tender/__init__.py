"""tender: a self-hostable, headless checkout service; gift cards are a first-class payment."""

__version__ = "0.1.0"
