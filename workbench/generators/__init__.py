"""Parameter generators: the methods (RPG, p-diff, IGPG, NeuroGen) and the baselines every method must beat."""
