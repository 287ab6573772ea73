"""Payments: executing an approved refund exactly once (``local`` fake, ``stripe``)."""
