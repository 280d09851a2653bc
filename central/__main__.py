from central.cli import main

main()
