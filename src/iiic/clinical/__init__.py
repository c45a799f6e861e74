"""iiic.clinical"""
