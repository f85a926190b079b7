"""IGPG's sizes at each scale a preset names (Generator.sizes): config overrides, how the prior trains, and the IGPG
notebooks' settings -- `zoo`: IGPG on one zoo (the leaderboard's), overrides + "max_params"; `n`: generated models per
pair in notebooks 05 / 06 (0: the preset's n_eval); `ablation`: notebook 06's {"archs", "datasets", "steps", "igpg":
overrides of every row, "variants": [overrides of one row]}."""

# IGPG on one zoo (the leaderboard's): every seed seen, as for every other method; at most 6 training checkpoints
# (a code per value: a CPU prior's windows grow with every sequence), a shorter VQ-VAE stage and pass cap (measured on
# the CNN-s seeds zoo with 10 checkpoints and the collection's 1,500 VQ-VAE steps: 14 min per zoo; greedy 0.96 vs
# originals 0.957); nets up to CNN-s (LeNet-5's 44k codes per net are out of a CPU prior's reach)
IGPG_ZOO = {"holdout_seeds": 0, "train_checkpoints": 6, "vq_steps": 600, "prior_passes": 300, "max_params": 5000}
# smoke: the same zoo scope with the smoke VQ-VAE's steps and a short pass cap (a CI setting: near-chance nets; the
# small stages made IGPG 22 of the smoke leaderboard's 45 s)
SMOKE_IGPG_ZOO = {**IGPG_ZOO, "vq_steps": 20, "prior_passes": 30}
SMOKE_IGPG = {"chunk_size": 64, "downsample": 16, "codebook_size": 32, "code_dim": 16, "vq_hidden": 16, "vq_steps": 20,
              "vq_batch": 64, "context": 64, "n_embd": 32, "n_layer": 1, "n_head": 2, "image_size": 64,
              "vq_refine": 5, "prior_target": 0.999, "prior_stop": "greedy", "prior_check_every": 10}
SMOKE_IGPG_ABLATION = {"archs": ["cnn_s"], "datasets": ["mnist5k"], "igpg": {"vq_steps": 10}, "steps": 10,
                       "variants": [{"downsample": 4}, {"use_arch": False}]}
# small: one code per value (IGPG's chunks of many values per code keep no accuracy at these sizes; measured in
# benchmarks/igpg_reconstruction.py), so a net's code sequence is as long as the net, and a net decodes to an accurate
# one only if almost every code is right: the prior must learn its sequences nearly by heart (REFERENCE.md, 2026-12).
# The small collection (presets.SMALL_COLLECTION) is scoped to what a CPU prior learns in minutes.
# VQ-VAE: measured best of benchmarks/igpg_reconstruction.py: straight-through codes from distances to a 1024-entry
# codebook, dead codes restarted every 50 steps (1:1e-3:1500:distance:k1:restart=50:hard:batch=64:K=1024); then 1,000
# decoder steps on its argmax codes (measured on the 9bf9e57 generator: seen pairs' reconstruction loss 2.76 -> 0.34
# points, 27 s). Prior: trained to a criterion (every seen pair's greedy sample equal to a training sequence on 99.9 %
# of codes, capped at 400 passes; igpg_steps then go unused: the 9bf9e57 prior, stopped at 99.92 % teacher-forced,
# matched 0.77-1.00; 150 more steps made all six exact); sampled greedily (notebook 05's temperature table: at T
# 0.2-1.0 some samples switch between the training sequences mid-net and land at chance); BatchNorm statistics
# re-estimated after decoding (4 batches). -- a fixed budget of ~6 passes left the 32-pair prior at per-layer code
# histograms, which sample to chance; 2 layers (0.37 s per step of 32 windows here, 4 layers 0.88 s) and a 64-code overlap (a third fewer windows than half a window).
SMALL_IGPG = {"chunk_size": 64, "downsample": 1, "vq_kernel": 1, "codebook_size": 1024, "code_dim": 64, "vq_hidden": 64,
              "vq_logits": "distance", "vq_hard": True, "vq_restart": 50, "vq_steps": 1500, "vq_batch": 64, "vq_lr": 2e-3,
              "context": 256, "overlap": 64, "n_embd": 128, "n_layer": 2, "n_head": 4, "image_size": 224,
              "vq_refine": 1000, "prior_target": 0.999, "prior_stop": "greedy", "prior_passes": 400, "temperature": 0.0,
              "bn_recalibrate": 4}
PAPER_IGPG = {**SMALL_IGPG, "n_embd": 512, "n_layer": 8, "n_head": 8, "prior_passes": 1000}
# every ablation row (the preset's setting first) is a full IGPG trained to the same criterion on the sub-collection,
# with `igpg` overrides for all rows (a shorter VQ-VAE stage, a lower pass cap) so that four rows fit CPU minutes
# (8 values per code and more collapse to chance already in benchmarks/igpg_reconstruction.py, so 4 is the coarser row)
SMALL_IGPG_ABLATION = {"archs": ["cnn_s", "resnet_1"], "datasets": ["mnist5k"], "steps": 300,
                       "igpg": {"vq_steps": 300, "prior_passes": 200},
                       "variants": [{"downsample": 4, "vq_kernel": 3}, {"codebook_size": 256}, {"use_arch": False}]}


SIZES = {"smoke": {"config": SMOKE_IGPG, "steps": 20, "batch_size": 8, "lr": 1e-3, "n": 0, "zoo": SMOKE_IGPG_ZOO,
                   "ablation": SMOKE_IGPG_ABLATION},
         # steps: the prior's step cap where no pass count is set (the VQ-VAE's are config["vq_steps"])
         "small": {"config": SMALL_IGPG, "steps": 2000, "batch_size": 32, "lr": 1e-3, "n": 5, "zoo": IGPG_ZOO,
                   "ablation": SMALL_IGPG_ABLATION},
         "paper": {"config": PAPER_IGPG, "steps": 200_000, "batch_size": 32, "lr": 1e-4, "n": 0, "zoo": IGPG_ZOO,
                   "ablation": {}}}
