"""iiic.ensemble"""
