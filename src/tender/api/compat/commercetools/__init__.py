"""The commercetools gift card connector's processor: its routes and wire format."""
