"""iiic.synth"""
