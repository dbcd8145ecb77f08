module cutover.local/infra/local/proxy

go 1.26
