"""The shared contract: the ticket, its workflow, the working-day calendar and the wire messages.

Nothing here does I/O. The central service, the liaison's replica, the sync engine and the
terminal app all import from here, so they speak one model.
"""
