"""Gift card providers behind the one ``GiftCardProvider`` interface, chosen by config name."""
