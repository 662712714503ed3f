"""The shipped reward ranker's recipe, torch-free so the CLI can show its defaults: the head's L2
strength and how much a contrastive pair counts, chosen by 5-fold cross-validation on the dev
pairs (folds by a hash of each pair; the README has the figures)."""

DEFAULT_C = 0.12  # inverse L2 strength of the head's logistic fit. Cross-validated accuracy is
# flat from 0.1 to 0.15 (0.602-0.606); at 0.12 the helpful reply wins the obvious pairs by a
# margin int8 rounding does not flip (0.1 left two at +0.01) while the head stays small enough
# that int8 keeps every clear top pick of PyTorch (0.15 flips one of `bench ranker`'s)
AUGMENT_WEIGHT = 0.25  # of a contrastive pair: enough to prefer a helpful reply to a curt,
# off-topic or cut-off one (harmlessness pairs alone teach "shorter wins"), little enough to
# keep accuracy on human pairs
