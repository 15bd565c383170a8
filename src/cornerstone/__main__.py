from cornerstone.cli import main

main()
