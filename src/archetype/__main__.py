from archetype.cli.main import main

main()
