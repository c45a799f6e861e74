"""iiic.evaluate"""
