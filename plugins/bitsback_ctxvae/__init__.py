"""bitsback_ctxvae: a VAE whose pixels also depend on their causal neighbours (a plugin).

For thresholded scans, where a VAE with independent pixels loses to JBIG: the decoder's
logit of each pixel gets a learned logit of the pixel's context (the twelve pixels before
it in a JBIG-like template). Coding is portable arithmetic only.
"""
