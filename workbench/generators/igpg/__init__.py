"""IGPG (Instruction-Guided Parameter Generation, papers/igpg-summary.md): the parts built so far.

    vqvae.ChunkVQVAE   Gumbel VQ-VAE over fixed-size chunks of a net's normalised parameters (the road's "flat"
                       tokenizer cuts the chunks; padding is NaN and never counts in a loss)
    prior.CodePrior    GPT-2 over code indices with a dataset/architecture prefix; windowed generation

Not yet a registered method: the generator that trains both on a `workbench.collection.Collection` and the IGPG
notebooks are the next step (issue 9).
"""
