"""The Monte Carlo bits-back coders (BB-ELBO, BB-IS, BB-CIS) and their discretizer, as a plugin."""
