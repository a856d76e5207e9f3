from devflow.cli import main

raise SystemExit(main())
