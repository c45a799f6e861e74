"""iiic.data"""
