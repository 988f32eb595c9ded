"""The contract that crosses Redis between the web and the workers: the signed job payload, queue names,
result and follow streams, sealed records, claims, host liveness, audit and confirmation records."""
