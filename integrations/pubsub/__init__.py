"""Salesforce's Pub/Sub API (gRPC): the stubs generated from its published `pubsub_api.proto`.

`make proto` generates them again (grpcio-tools); do not edit them by hand.
"""
