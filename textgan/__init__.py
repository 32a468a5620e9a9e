"""textgan: adversarial text generation and adversarial document modeling in PyTorch."""
