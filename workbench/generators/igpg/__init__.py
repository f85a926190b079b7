"""IGPG (Instruction-Guided Parameter Generation, papers/igpg-summary.md), one idea per file:

    vqvae.ChunkVQVAE   Gumbel VQ-VAE over fixed-size chunks of a net's normalised parameters (the road's "flat"
                       tokenizer cuts the chunks; padding is NaN and never counts in a loss)
    prior.CodePrior    GPT-2 over code indices with a dataset/architecture prefix; windowed generation
    layouts            the collection's parameter layouts and their per-key statistics (held-out depths borrow them)
    model.IGPG         the registered method: both, trained on a `workbench.collection.Collection` (or on one zoo,
                       as a one-pair collection)
"""
from . import model  # noqa: F401  (registers "igpg")
