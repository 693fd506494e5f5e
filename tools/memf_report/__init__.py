"""memf-report's views of heap profiles (the script tools/memf-report is the command)."""
