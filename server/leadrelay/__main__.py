from leadrelay.cli import main

raise SystemExit(main())
