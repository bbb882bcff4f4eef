from bench.ingest.runner import main

main()
