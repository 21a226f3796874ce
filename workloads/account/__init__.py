"""Account: businesses, users and their profiles; the local token issuer; the payment processor's webhook."""
