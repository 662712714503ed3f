"""The shipped reward ranker's recipe, torch-free so the CLI can show its defaults: the head's L2
strength and how much a contrastive pair counts, chosen by 5-fold cross-validation on the dev
pairs (folds by a hash of each pair; the README has the figures)."""

DEFAULT_C = 0.15  # inverse L2 strength of the head's logistic fit: the best cross-validated
# accuracy of 0.1, 0.15 and 0.2 (0.604, 0.606, 0.603), and the helpful reply wins the obvious
# pairs by a margin that int8 rounding does not flip (0.1 left two of them at +0.01)
AUGMENT_WEIGHT = 0.25  # of a contrastive pair: enough to prefer a helpful reply to a curt,
# off-topic or cut-off one (harmlessness pairs alone teach "shorter wins"), little enough to
# keep accuracy on human pairs
