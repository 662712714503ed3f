"""The stages of a turn, one file each, in the order `bot.conversation.core` runs them."""
