from bench.compaction.runner import main

raise SystemExit(main())
