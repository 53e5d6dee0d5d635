"""Admission: who may listen. Tickets, seats and the waiting room, rate limits, proof of work,
load shedding. Sans-IO policy objects fed `now`; the web edge applies them."""
