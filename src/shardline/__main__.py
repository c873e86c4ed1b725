from shardline.cli import main

main()
