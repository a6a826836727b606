"""The HTTP layer: thin routes that translate requests into service calls and back."""
