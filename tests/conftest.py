import os
import sys

# Test helpers live beside the tests: vsclient.py here, vsharness.py in harness/.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "harness"))
sys.path.insert(0, os.path.dirname(__file__))
