"""iiic.models"""
