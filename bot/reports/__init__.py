"""Weekly engagement and retention reports per community: building, scheduling, posting."""
