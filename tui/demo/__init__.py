"""``fycli demo``: an embedded central service, a synced replica, live central activity."""
