"""Conversation quality: the loop guard's repeat test, reply-chain quotes, memory."""
