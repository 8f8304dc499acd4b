"""Tables — Government WeChat (政务微信) and SMS: staff accounts and tokens."""
