import sys

from gossipsim.node.main import main

sys.exit(main())
